"""Write your own stage: a component that keeps only hits above a score, used from YAML.

Run: python examples/custom_component.py
Third-party packages make such a class available to YAML through the `ragloom.components`
entry-point group instead of calling `register` at import time.
"""

from __future__ import annotations

from typing import Any

from ragloom import Chunk, Component, Document, Hit, Pipeline, output_types, register


@register("min_score_filter")
class MinScoreFilter(Component):
    """Drops hits whose score is below `min_score`."""

    def __init__(self, min_score: float = 0.0):
        self.min_score = min_score

    @output_types(hits=list[Hit])
    def run(self, hits: list[Hit]) -> dict[str, Any]:
        return {"hits": [h for h in hits if h.score >= self.min_score]}


PIPELINE = """
components:
  filter:
    type: min_score_filter
    init_parameters: {min_score: 0.5}
inputs:
  hits: [filter.hits]
"""


def main() -> None:
    doc = Document("Ragloom stages are typed. They validate before running.", id="doc")
    hits = [
        Hit(Chunk.from_span(doc, 0, 25, 0), score=0.9),
        Hit(Chunk.from_span(doc, 26, 55, 1), score=0.2),
    ]
    pipe = Pipeline.from_yaml_text(PIPELINE)
    kept = pipe.run({"hits": hits})["filter.hits"]
    print([h.chunk.text for h in kept])
    print(pipe.to_yaml())


if __name__ == "__main__":
    main()
