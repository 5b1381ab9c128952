# Preprocessing: QC and filtering (per sample), merging the samples (merge.enabled),
# normalisation, highly variable genes, PCA.


rule qc:
    input:
        stage_input("qc"),
    output:
        artifact=stage_output("qc"),
        table="results/{sample}/qc_cells.csv",
    params:
        stage=stage_params("qc"),
        inputs=input_flags("qc"),
    threads: 1
    log:
        "logs/{sample}/qc.log",
    benchmark:
        "results/{sample}/benchmarks/qc.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " --table {output.table:q} > {log:q} 2>&1"


rule merge:
    input:
        [artifact("qc", sample) for sample in SAMPLES],
    output:
        artifact=directory(artifact("merge", CONFIG.merge.name)) if EXT == "zarr" else artifact("merge", CONFIG.merge.name),
    params:
        stage=stage_params("merge"),
        inputs=" ".join(f"--input {shlex.quote(artifact('qc', sample))}" for sample in SAMPLES),
    threads: 1
    log:
        f"logs/{CONFIG.merge.name}/merge.log",
    benchmark:
        f"results/{CONFIG.merge.name}/benchmarks/merge.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule normalize:
    input:
        stage_input("normalize"),
    output:
        artifact=stage_output("normalize"),
    params:
        stage=stage_params("normalize"),
        inputs=input_flags("normalize"),
    threads: 1
    log:
        "logs/{sample}/normalize.log",
    benchmark:
        "results/{sample}/benchmarks/normalize.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule hvg:
    input:
        stage_input("hvg"),
    output:
        artifact=stage_output("hvg"),
    params:
        stage=stage_params("hvg"),
        inputs=input_flags("hvg"),
    threads: 1
    log:
        "logs/{sample}/hvg.log",
    benchmark:
        "results/{sample}/benchmarks/hvg.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule pca:
    input:
        stage_input("pca"),
    output:
        artifact=stage_output("pca"),
    params:
        stage=stage_params("pca"),
        inputs=input_flags("pca"),
    threads: 2
    log:
        "logs/{sample}/pca.log",
    benchmark:
        "results/{sample}/benchmarks/pca.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"
