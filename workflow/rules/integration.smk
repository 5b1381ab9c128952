# Integration of the batches (integration section): Harmony on the PCA (method: harmony; ComBat
# runs in rule pca, BBKNN in rule neighbors), and the comparison of every method (compare: true).


rule integration:
    input:
        stage_input("integration"),
    output:
        artifact=stage_output("integration"),
    log:
        "logs/{sample}/integration.log",
    benchmark:
        "results/{sample}/benchmarks/integration.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("integration"),
        inputs=input_flags("integration"),
    shell:
        stage_shell("integration")


rule integration_metrics:
    input:
        stage_input("integration_metrics"),
    output:
        **table_outputs(
            "integration_metrics", "Integration", "integration methods compared"
        ),
    log:
        "logs/{sample}/integration_metrics.log",
    benchmark:
        "results/{sample}/benchmarks/integration_metrics.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("integration_metrics"),
        inputs=input_flags("integration_metrics"),
    shell:
        stage_shell(
            "integration_metrics",
            "--view {output.view:q}",
            output="{output.table:q}",
        )
