"""Running persistq's long-lived commands as services: the supervisor's notify protocol
(:mod:`persistq.service.notify`) and one-object-per-line JSON logs
(:mod:`persistq.service.jsonlog`)."""
