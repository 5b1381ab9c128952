# Tools: UMAP, Leiden clusters, marker genes, and the final gathered object.


rule umap:
    input:
        stage_input("umap"),
    output:
        artifact=stage_output("umap"),
    log:
        "logs/{sample}/umap.log",
    benchmark:
        "results/{sample}/benchmarks/umap.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: UMAP_THREADS  # umap-learn's layout is serial with a fixed seed; umap.method: parallel uses more
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("umap"),
        inputs=input_flags("umap"),
    shell:
        stage_shell("umap")


rule leiden:
    input:
        stage_input("leiden"),
    output:
        **table_outputs("clustering", "Clustering", "resolutions"),
        artifact=stage_output("leiden"),
    log:
        "logs/{sample}/leiden.log",
    benchmark:
        "results/{sample}/benchmarks/leiden.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("leiden"),
        inputs=input_flags("leiden"),
    shell:
        stage_shell("leiden", "--table {output.table:q} --view {output.view:q}")


rule markers:
    input:
        stage_input("markers"),
    output:
        **table_outputs("markers", "Markers", "top markers"),
        artifact=stage_output("markers"),
    log:
        "logs/{sample}/markers.log",
    benchmark:
        "results/{sample}/benchmarks/markers.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: threads_beside_umap(2)
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("markers"),
        inputs=input_flags("markers"),
    shell:
        stage_shell("markers", "--table {output.table:q} --view {output.view:q}")


rule final:
    input:
        stage_input("final"),
    output:
        artifact=stage_output("final"),
    log:
        "logs/{sample}/final.log",
    benchmark:
        "results/{sample}/benchmarks/final.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("final"),
        inputs=input_flags("final"),
    shell:
        stage_shell("final")


# Optional side stages (enabled: true in their config section); final gathers them.


rule annotate:
    input:
        stage_input("annotate"),
    output:
        **table_outputs("cell_types", "Markers", "cell types"),
        artifact=stage_output("annotate"),
    log:
        "logs/{sample}/annotate.log",
    benchmark:
        "results/{sample}/benchmarks/annotate.tsv"
    conda:
        "../../envs/scsnake.yaml"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("annotate"),
        inputs=input_flags("annotate"),
    shell:
        stage_shell(
            "annotate", "--table {output.table:q} --view {output.view:q}", threads=1
        )


rule tsne:
    input:
        stage_input("tsne"),
    output:
        artifact=stage_output("tsne"),
    log:
        "logs/{sample}/tsne.log",
    benchmark:
        "results/{sample}/benchmarks/tsne.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("tsne"),
        inputs=input_flags("tsne"),
    shell:
        stage_shell("tsne")


rule draw_graph:
    input:
        stage_input("draw_graph"),
    output:
        artifact=stage_output("draw_graph"),
    log:
        "logs/{sample}/draw_graph.log",
    benchmark:
        "results/{sample}/benchmarks/draw_graph.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("draw_graph"),
        inputs=input_flags("draw_graph"),
    shell:
        stage_shell("draw_graph")


rule paga:
    input:
        stage_input("paga"),
    output:
        artifact=stage_output("paga"),
    log:
        "logs/{sample}/paga.log",
    benchmark:
        "results/{sample}/benchmarks/paga.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("paga"),
        inputs=input_flags("paga"),
    shell:
        stage_shell("paga")


rule dpt:
    input:
        stage_input("dpt"),
    output:
        artifact=stage_output("dpt"),
    log:
        "logs/{sample}/dpt.log",
    benchmark:
        "results/{sample}/benchmarks/dpt.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("dpt"),
        inputs=input_flags("dpt"),
    shell:
        stage_shell("dpt")
