"""Pure check functions: evidence in (plain values, parsed capture summaries, the scenario's own
facts), findings out, each tagged with the catalogue requirement it judges.

Every catalogue requirement is judged in exactly one place: `harness.checks.registry` names it
(a function here or in `harness.validators`) and says whether a capture plus recordings is enough
evidence (offline, `arec validate`) or the scenario's own facts are needed (live only). The
Gherkin bindings (`harness.bdd`) only drive the scenario, gather evidence and call these.
"""
