# Reading each sample's input (or simulating the demo data).


rule load:
    input:
        sample_input,
    output:
        artifact=stage_output("load"),
    log:
        "logs/{sample}/load.log",
    benchmark:
        "results/{sample}/benchmarks/load.tsv"
    conda:
        "../../envs/scsnake.yaml"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("load"),
        inputs="",
    shell:
        stage_shell("load", "--sample {wildcards.sample:q}")
