# scsnake: single-cell RNA-seq analysis, one rule per stage.
# Run: `make run` (or `snakemake --cores all`); report: `snakemake --report results/report.html`.
from snakemake.utils import min_version

min_version("8.0")

# config/config.yaml holds the defaults and runs on the built-in demo data. A config given
# with --configfile replaces it (missing keys take the documented defaults), so a user's
# sample sheet never gets the demo sample merged in.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/io.smk"
include: "workflow/rules/pp.smk"
include: "workflow/rules/integration.smk"
include: "workflow/rules/neighbors.smk"
include: "workflow/rules/tl.smk"
include: "workflow/rules/custom.smk"
include: "workflow/rules/de.smk"
include: "workflow/rules/pl.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


# The warnings the stages recorded (a sample that lost most of its cells, a gene set that
# matches no gene), on the terminal at the end of the run; also in results/summary.html.
onsuccess:
    print_warnings()
