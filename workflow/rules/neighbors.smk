# The kNN graph on the PCA.


rule neighbors:
    input:
        stage_input("neighbors"),
    output:
        artifact=stage_output("neighbors"),
    log:
        "logs/{sample}/neighbors.log",
    benchmark:
        "results/{sample}/benchmarks/neighbors.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("neighbors"),
        inputs=input_flags("neighbors"),
    shell:
        stage_shell("neighbors")
