"""The retrieval part of a query pipeline: the stages its `hits` output depends on, no more.

`POST /v1/retrieve` runs it, so a retrieval API never pays for prompt building or generation.
It shares the query pipeline's component objects (warm models, open stores).

Example::

    hits_only = retrieval_pipeline(config.query)
    hits_only.run({"query": "what is BM25?"}).outputs["hits"]
"""

from __future__ import annotations

from ragloom.pipeline.graph import Pipeline


def upstream_stages(pipeline: Pipeline, stage: str) -> set[str]:
    """`stage` and every stage it depends on."""
    seen = {stage}
    todo = [stage]
    while todo:
        for sender in pipeline.predecessors(todo.pop()):
            if sender not in seen:
                seen.add(sender)
                todo.append(sender)
    return seen


def retrieval_pipeline(query: Pipeline, output: str = "hits") -> Pipeline:
    """The stages that produce `output`, with the inputs that feed them (same executor)."""
    keep = upstream_stages(query, query.outputs[output].component)
    part = Pipeline(index_dir=query.index_dir, executor=dict(query.executor))
    for name in query.components:
        if name in keep:
            part.add(name, query.components[name], optional=name in query.optional)
    for conn in query.connections:
        if conn.sender.component in keep and conn.receiver.component in keep:
            part.connect(str(conn.sender), str(conn.receiver))
    for input_name, targets in query.inputs.items():
        for addr in targets:
            if addr.component in keep:
                part.add_input(input_name, str(addr))
    part.add_output(output, str(query.outputs[output]))
    return part
