"""`PIPELINE_*` environment variables that set nothing: a typo there was ignored in silence.

Configuration keys are `PIPELINE_<SECTION>_<KEY>`; the other `PIPELINE_*` names below belong to
the tool itself, its CI front ends and its local stack, and are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config.env import ENV_PREFIX, SETTINGS_VARIABLE, closest_variable
from pipeline.config.schema import setting_variables

OWN_VARIABLES = frozenset(
    {
        # pipeline/config/env.py: settings as lines
        SETTINGS_VARIABLE,
        # pipeline/registries/gar.py
        "PIPELINE_GAR_ACCESS_TOKEN",
        "PIPELINE_GAR_ENDPOINT",
        # pipeline/registries/cli_login.py (set for the docker CLI's credential helper)
        "PIPELINE_CLI_REGISTRY_LOGINS",
        # the test stack's environment (`python -m devstack status --env` in a checkout)
        "PIPELINE_STACK_DIR",
        "PIPELINE_LOCAL_REGISTRY",
        "PIPELINE_ECR_HOST",
        "PIPELINE_GAR_HOST",
        "PIPELINE_HUB_HOST",
        "PIPELINE_HUB_USERNAME",
        "PIPELINE_HUB_PASSWORD",
        "PIPELINE_HUB_PASSWORD_FILE",
        # ci/github and ci/gitlab
        "PIPELINE_PACKAGE",
        "PIPELINE_PYTHON",
        "PIPELINE_CANDIDATE",
        "PIPELINE_GIT_PUSH_TOKEN",
        "PIPELINE_SKIP_BUILD",
        "PIPELINE_SKIP_SMOKE",
        "PIPELINE_SKIP_RELEASE",
        "PIPELINE_ACTION_REGISTRY_USERNAME",
        "PIPELINE_ACTION_REGISTRY_PASSWORD",
    }
)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per `PIPELINE_*` variable that is neither a setting nor one of ours."""
    settings = setting_variables()
    known = OWN_VARIABLES.union(settings)
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        close = closest_variable(name, settings)
        hint = (
            f"did you mean {close}?"
            if close
            else "settings are PIPELINE_<SECTION>_<KEY>, listed in docs/configuration.md"
        )
        warnings.append(f"environment variable {name} is not a pipeline setting, ignored; {hint}")
    return warnings
