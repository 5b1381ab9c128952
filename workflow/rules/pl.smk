# The report's files of each sample: QC figures (from the qc artifact), the other figures
# (from final), and the validated config with the package versions. Captions quote the
# parameter values through params.caption (scsnake.stages._plots.caption_values).
from snakemake import __version__ as SNAKEMAKE_VERSION

from scsnake.stages._plots import caption_values, sample_config_json


def figure_outputs(names, category):
    """Named rule outputs of figures, each in the report with its caption and labels."""
    return {
        name: report(
            f"results/{{sample}}/figures/{name}.{CONFIG.plots.format}",
            caption=f"../report/{name}.rst",
            category=category,
            labels={"sample": "{sample}", "figure": name},
        )
        for name in names
    }


rule qc_plots:
    input:
        artifact("qc"),
    output:
        **figure_outputs(QC_FIGURES, "QC"),
    params:
        stage=stage_params("plots"),
        caption=caption_values(CONFIG, "qc_plots"),
        outdir=lambda wildcards: f"results/{wildcards.sample}/figures",
    log:
        "logs/{sample}/qc_plots.log",
    benchmark:
        "results/{sample}/benchmarks/qc_plots.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        "scsnake run qc_plots --input {input:q} --output {params.outdir:q} --params {params.stage:q} > {log:q} 2>&1"


rule plots:
    input:
        stage_input("plots"),
    output:
        **figure_outputs(FIGURES, "Figures"),
    params:
        stage=stage_params("plots"),
        caption=caption_values(CONFIG, "plots"),
        inputs=input_flags("plots"),
        outdir=lambda wildcards: f"results/{wildcards.sample}/figures",
    log:
        "logs/{sample}/plots.log",
    benchmark:
        "results/{sample}/benchmarks/plots.tsv"
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    conda:
        "../../envs/scsnake.yaml"
    shell:
        "scsnake run plots {params.inputs} --output {params.outdir:q} --params {params.stage:q} > {log:q} 2>&1"


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
    params:
        config=lambda wildcards: sample_config_json(CONFIG, wildcards.sample),
        snakemake=SNAKEMAKE_VERSION,
    log:
        "logs/{sample}/run_info.log",
    conda:
        "../../envs/scsnake.yaml"
    shell:
        "scsnake run-info --params {params.config:q} --config {output.config:q} --versions {output.versions:q}"
        " --snakemake {params.snakemake:q} > {log:q} 2>&1"
