# Tools: UMAP, Leiden clusters, marker genes, and the final gathered object.


rule umap:
    input:
        stage_input("umap"),
    output:
        artifact=stage_output("umap"),
    params:
        stage=stage_params("umap"),
        inputs=input_flags("umap"),
    threads: UMAP_THREADS  # umap-learn's layout is serial with a fixed seed; umap.method: parallel uses more
    log:
        "logs/{sample}/umap.log",
    benchmark:
        "results/{sample}/benchmarks/umap.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule leiden:
    input:
        stage_input("leiden"),
    output:
        artifact=stage_output("leiden"),
        table=report("results/{sample}/clustering.csv", caption="../report/clustering.rst", category="Clustering", labels={"sample": "{sample}", "table": "resolutions"}),
    params:
        stage=stage_params("leiden"),
        inputs=input_flags("leiden"),
    threads: 1
    log:
        "logs/{sample}/leiden.log",
    benchmark:
        "results/{sample}/benchmarks/leiden.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " --table {output.table:q} > {log:q} 2>&1"


rule markers:
    input:
        stage_input("markers"),
    output:
        artifact=stage_output("markers"),
        table=report("results/{sample}/markers.csv", caption="../report/markers.rst", category="Markers", labels={"sample": "{sample}", "table": "top markers"}),
    params:
        stage=stage_params("markers"),
        inputs=input_flags("markers"),
    threads: threads_beside_umap(2)
    log:
        "logs/{sample}/markers.log",
    benchmark:
        "results/{sample}/benchmarks/markers.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " --table {output.table:q} > {log:q} 2>&1"


rule final:
    input:
        stage_input("final"),
    output:
        artifact=stage_output("final"),
    params:
        stage=stage_params("final"),
        inputs=input_flags("final"),
    threads: 1
    log:
        "logs/{sample}/final.log",
    benchmark:
        "results/{sample}/benchmarks/final.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"

# Optional side stages (enabled: true in their config section); final gathers them.


rule annotate:
    input:
        stage_input("annotate"),
    output:
        artifact=stage_output("annotate"),
        table=report("results/{sample}/cell_types.csv", caption="../report/cell_types.rst", category="Markers", labels={"sample": "{sample}", "table": "cell types"}),
    params:
        stage=stage_params("annotate"),
        inputs=input_flags("annotate"),
    log:
        "logs/{sample}/annotate.log",
    benchmark:
        "results/{sample}/benchmarks/annotate.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV.replace("{threads}", "1") + RUN + " --table {output.table:q} > {log:q} 2>&1"


rule tsne:
    input:
        stage_input("tsne"),
    output:
        artifact=stage_output("tsne"),
    params:
        stage=stage_params("tsne"),
        inputs=input_flags("tsne"),
    threads: 2
    log:
        "logs/{sample}/tsne.log",
    benchmark:
        "results/{sample}/benchmarks/tsne.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule draw_graph:
    input:
        stage_input("draw_graph"),
    output:
        artifact=stage_output("draw_graph"),
    params:
        stage=stage_params("draw_graph"),
        inputs=input_flags("draw_graph"),
    threads: 1
    log:
        "logs/{sample}/draw_graph.log",
    benchmark:
        "results/{sample}/benchmarks/draw_graph.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule paga:
    input:
        stage_input("paga"),
    output:
        artifact=stage_output("paga"),
    params:
        stage=stage_params("paga"),
        inputs=input_flags("paga"),
    threads: 1
    log:
        "logs/{sample}/paga.log",
    benchmark:
        "results/{sample}/benchmarks/paga.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule dpt:
    input:
        stage_input("dpt"),
    output:
        artifact=stage_output("dpt"),
    params:
        stage=stage_params("dpt"),
        inputs=input_flags("dpt"),
    threads: 1
    log:
        "logs/{sample}/dpt.log",
    benchmark:
        "results/{sample}/benchmarks/dpt.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"
