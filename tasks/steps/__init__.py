"""Pipeline steps on one server, in the order a deploy runs them: preflight, lock,
source (fetch and checkout), images (build and release tags), database (plan, backup,
migrate), services (restart in order), health, releases (the log). Each takes a
Target and runs builders' commands through its executor."""
