# Preprocessing: QC and filtering (per sample), merging the samples (merge.enabled),
# normalisation, highly variable genes, PCA.


rule qc:
    input:
        stage_input("qc"),
    output:
        artifact=stage_output("qc"),
        table="results/{sample}/qc_cells.csv",
    log:
        "logs/{sample}/qc.log",
    benchmark:
        "results/{sample}/benchmarks/qc.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("qc"),
        inputs=input_flags("qc"),
    shell:
        stage_shell("qc", "--table {output.table:q}")


rule merge:
    input:
        [artifact("qc", sample) for sample in SAMPLES],
    output:
        artifact=(
            directory(artifact("merge", CONFIG.merge.name))
            if EXT == "zarr"
            else artifact("merge", CONFIG.merge.name)
        ),
    log:
        f"logs/{CONFIG.merge.name}/merge.log",
    benchmark:
        f"results/{CONFIG.merge.name}/benchmarks/merge.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("merge"),
        inputs=" ".join(
            f"--input {shlex.quote(artifact('qc', sample))}" for sample in SAMPLES
        ),
    shell:
        stage_shell("merge")


rule normalize:
    input:
        stage_input("normalize"),
    output:
        artifact=stage_output("normalize"),
    log:
        "logs/{sample}/normalize.log",
    benchmark:
        "results/{sample}/benchmarks/normalize.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("normalize"),
        inputs=input_flags("normalize"),
    shell:
        stage_shell("normalize")


rule hvg:
    input:
        stage_input("hvg"),
    output:
        artifact=stage_output("hvg"),
    log:
        "logs/{sample}/hvg.log",
    benchmark:
        "results/{sample}/benchmarks/hvg.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("hvg"),
        inputs=input_flags("hvg"),
    shell:
        stage_shell("hvg")


rule pca:
    input:
        stage_input("pca"),
    output:
        artifact=stage_output("pca"),
    log:
        "logs/{sample}/pca.log",
    benchmark:
        "results/{sample}/benchmarks/pca.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("pca"),
        inputs=input_flags("pca"),
    shell:
        stage_shell("pca")
