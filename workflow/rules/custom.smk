# Stages of your own (custom_stages in the config, or a package's scsnake.stages entry point):
# one rule each, like the built-in artifact stages; final gathers what they add.


for custom_name in CONFIG.custom_stages:

    rule:
        name:
            custom_name
        input:
            stage_input(custom_name),
        output:
            artifact=stage_output(custom_name),
        log:
            f"logs/{{sample}}/{custom_name}.log",
        benchmark:
            f"results/{{sample}}/benchmarks/{custom_name}.tsv"
        conda:
            "../../envs/scsnake.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb,
            runtime=runtime,
        params:
            stage=stage_params(custom_name),
            inputs=input_flags(custom_name),
        shell:
            stage_shell(custom_name)
