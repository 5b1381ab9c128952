# Comparing conditions (merged samples): the raw counts summed per sample × group (pseudobulk),
# their differential expression between two levels of a sample-sheet factor (de), and its
# figures (de_plots). On when pseudobulk.enabled / de.enabled.


rule pseudobulk:
    input:
        stage_input("pseudobulk"),
    output:
        artifact=stage_output("pseudobulk"),
    log:
        "logs/{sample}/pseudobulk.log",
    benchmark:
        "results/{sample}/benchmarks/pseudobulk.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("pseudobulk"),
        inputs=input_flags("pseudobulk"),
    shell:
        stage_shell("pseudobulk")


rule de:
    input:
        stage_input("de"),
    output:
        **table_outputs("de", "Differential expression", "top genes per group"),
        artifact=stage_output("de"),
    log:
        "logs/{sample}/de.log",
    benchmark:
        "results/{sample}/benchmarks/de.tsv"
    conda:
        "../../envs/scsnake.yaml"
    threads: 1  # PyDESeq2 on one process (n_cpus=1): the same table on every run
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("de"),
        inputs=input_flags("de"),
    shell:
        stage_shell("de", "--table {output.table:q} --view {output.view:q}")


rule de_plots:
    input:
        stage_input("de_plots"),
    output:
        **figure_outputs(DE_FIGURES, "Differential expression"),
    log:
        "logs/{sample}/de_plots.log",
    benchmark:
        "results/{sample}/benchmarks/de_plots.tsv"
    conda:
        "../../envs/scsnake.yaml"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("plots"),
        caption=caption_values(CONFIG, "de_plots"),
        inputs=input_flags("de_plots"),
        outdir=lambda wildcards: f"results/{wildcards.sample}/figures",
    shell:
        stage_shell("de_plots", output="{params.outdir:q}")
