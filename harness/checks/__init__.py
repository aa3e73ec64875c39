"""Pure check functions: evidence in, findings tagged with catalogue requirement ids out."""
