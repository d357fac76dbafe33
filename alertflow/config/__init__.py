"""The settings file and its sections: what an operator writes, validated with its line.

Owns: ``Settings`` (settings.py) and the models of each section: sources,
responses (traffic switches, runbooks), on-call schedules and escalation
policies, people; and the one resolver for secrets written in it.
May import: the vocabulary (models, errors, yamlmodel, templates, durations, auth).
Never imports store, pipeline, api, cli, worker, flows, integrations or rules.
"""
