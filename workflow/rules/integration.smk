# Integration of the batches (integration section): Harmony on the PCA (method: harmony; ComBat
# runs in rule pca, BBKNN in rule neighbors), and the comparison of every method (compare: true).


rule integration:
    input:
        stage_input("integration"),
    output:
        artifact=stage_output("integration"),
    params:
        stage=stage_params("integration"),
        inputs=input_flags("integration"),
    threads: 2
    log:
        "logs/{sample}/integration.log",
    benchmark:
        "results/{sample}/benchmarks/integration.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + RUN + " > {log:q} 2>&1"


rule integration_metrics:
    input:
        stage_input("integration_metrics"),
    output:
        table=report(
            "results/{sample}/integration_metrics.csv",
            caption="../report/integration_metrics.rst",
            category="Integration",
            labels={"sample": "{sample}", "table": "integration methods compared"},
        ),
    params:
        stage=stage_params("integration_metrics"),
        inputs=input_flags("integration_metrics"),
    threads: 2
    log:
        "logs/{sample}/integration_metrics.log",
    benchmark:
        "results/{sample}/benchmarks/integration_metrics.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        THREADS_ENV + "scsnake run {rule} {params.inputs} --output {output.table:q} --params {params.stage:q} > {log:q} 2>&1"
