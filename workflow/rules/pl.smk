# The report's files of each sample: QC figures (from the qc artifact), the other figures
# (from final), and the validated config with the package versions; the run summary of all
# samples (QC counts, clusters, warnings), which the report opens with. Captions quote the
# parameter values through params.caption (scsnake.stages._plots.caption_values).
rule qc_plots:
    input:
        artifact("qc"),
    output:
        **figure_outputs(QC_FIGURES, "QC"),
    log:
        "logs/{sample}/qc_plots.log",
    benchmark:
        "results/{sample}/benchmarks/qc_plots.tsv"
    conda:
        "../../envs/scsnake.yaml"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("plots"),
        caption=caption_values(CONFIG, "qc_plots"),
        inputs=lambda wildcards, input: f"--input {shlex.quote(str(input[0]))}",
        outdir=lambda wildcards: f"results/{wildcards.sample}/figures",
    shell:
        stage_shell("qc_plots", output="{params.outdir:q}")


rule plots:
    input:
        stage_input("plots"),
    output:
        **figure_outputs(FIGURES, "Figures"),
    log:
        "logs/{sample}/plots.log",
    benchmark:
        "results/{sample}/benchmarks/plots.tsv"
    conda:
        "../../envs/scsnake.yaml"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        stage=stage_params("plots"),
        caption=caption_values(CONFIG, "plots"),
        inputs=input_flags("plots"),
        outdir=lambda wildcards: f"results/{wildcards.sample}/figures",
    shell:
        stage_shell("plots", output="{params.outdir:q}")


rule run_info:
    input:
        artifact("final"),  # written once the analysis succeeded: a failed run leaves neither file
    output:
        config=report(
            "results/{sample}/config.yaml",
            caption="../report/config.rst",
            category="Run",
            labels={"sample": "{sample}", "file": "validated config"},
        ),
        versions=report(
            "results/{sample}/versions.csv",
            caption="../report/versions.rst",
            category="Run",
            labels={"sample": "{sample}", "file": "package versions"},
        ),
    log:
        "logs/{sample}/run_info.log",
    conda:
        "../../envs/scsnake.yaml"
    params:
        config=lambda wildcards: sample_config_json(CONFIG, wildcards.sample),
        snakemake=SNAKEMAKE_VERSION,
    shell:
        scsnake_shell(
            "run-info --params {params.config:q} --config {output.config:q} --versions {output.versions:q}"
            " --snakemake {params.snakemake:q} > {log:q} 2>&1"
        )


rule summary:
    input:
        summary_inputs(),
    output:
        table=SUMMARY_FILES[0],
        view=report(
            SUMMARY_FILES[1],
            caption="../report/summary.rst",
            category="Run",
            labels={"sample": "all samples", "file": "run summary"},
        ),
    log:
        "logs/summary.log",
    conda:
        "../../envs/scsnake.yaml"
    params:
        artifacts=artifact_flags(summary_artifacts()),
    shell:
        scsnake_shell(
            "summary {params.artifacts} --csv {output.table:q} --html {output.view:q} > {log:q} 2>&1"
        )
