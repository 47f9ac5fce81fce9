"""YAML pipelines: Haystack-shaped round trips, and errors located by file and 1-based line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from textwrap import dedent

import pytest
import yaml

import ragloom.registry as registry
from ragloom.errors import ConfigError, PipelineValidationError, Problem
from ragloom.pipeline import Pipeline
from tests.unit.components_for_tests import TEST_TYPES, Join, Length, Scale, Source, Upper


@pytest.fixture(autouse=True)
def _test_components_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve YAML types among the registered test components only.

    Unit tests of the YAML layer must not import the built-in stages (heavy libraries, and
    modules still being written): the registry then holds just what is registered in-process.
    """
    monkeypatch.setattr(registry, "_BUILTIN_MODULES", ())
    monkeypatch.setattr(registry, "_loaded", False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the `nth` line of the file containing `needle`."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not found {nth} time(s) in {path}"
    return hits[nth - 1]


def problem_about(path: Path, text: str) -> Problem:
    """The one problem whose message contains `text` (others may follow from it)."""
    found = [p for p in problems_in(path) if text in p.message]
    assert len(found) == 1, [str(p) for p in problems_in(path)]
    return found[0]


def problems_in(path: Path) -> list[Problem]:
    """Load `path`, expecting a ConfigError whose every problem names the file."""
    with pytest.raises(ConfigError) as info:
        Pipeline.from_yaml(path)
    assert info.value.problems, "a ConfigError must carry at least one problem"
    for problem in info.value.problems:
        assert problem.file == str(path)
        assert str(path) in str(info.value)
    return info.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_in(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


GOOD = """\
components:
  source:
    type: test_source
    init_parameters:
      value: hi
  upper:
    type: test_upper
    init_parameters:
      suffix: "!"
  length:
    type: test_length
connections:
  - sender: source.text
    receiver: upper.text
  - sender: upper.text
    receiver: length.text
outputs:
  shout: upper.text
  size: length.length
"""


# -- round trips and shape --------------------------------------------------------------------


def build() -> Pipeline:
    pipe = Pipeline(index_dir="my-index", executor={"type": "local", "max_workers": 2})
    pipe.add("upper", Upper(suffix="!", mode="title", repeat=2)).add("length", Length())
    pipe.add("scale", Scale(factor=0.5)).add("a", Source(value="a")).add("join", Join())
    pipe.connect("upper.text", "length.text").connect("length.length", "scale.value")
    pipe.connect("a.text", "join.parts").connect("upper.text", "join.parts")
    pipe.add_input("text", "upper.text").add_input("offset", "scale.offset")
    pipe.add_output("value", "scale.value").add_output("joined", "join.text")
    return pipe


def test_python_yaml_python_round_trip() -> None:
    original = build()
    loaded = Pipeline.from_yaml_text(original.to_yaml())
    assert loaded.to_dict() == original.to_dict()
    assert loaded.to_yaml() == original.to_yaml()
    assert loaded.run({"text": "ab"}).outputs == original.run({"text": "ab"}).outputs


def test_to_yaml_writes_a_file_that_from_yaml_reads(tmp_path: Path) -> None:
    path = tmp_path / "out.yaml"
    text = build().to_yaml(path)
    assert path.read_text(encoding="utf-8") == text
    assert Pipeline.from_yaml(path).to_dict() == build().to_dict()


def test_yaml_has_the_haystack_shape() -> None:
    data = yaml.safe_load(build().to_yaml())
    assert list(data) == ["index_dir", "executor", "components", "connections", "inputs", "outputs"]
    assert data["components"]["upper"] == {
        "type": "test_upper",
        "init_parameters": {"suffix": "!", "mode": "title", "repeat": 2},
    }
    assert data["connections"][0] == {"sender": "upper.text", "receiver": "length.text"}
    assert data["inputs"] == {"text": ["upper.text"], "offset": ["scale.offset"]}
    assert data["outputs"] == {"value": "scale.value", "joined": "join.text"}
    assert data["executor"] == {"type": "local", "max_workers": 2}


def test_default_settings_are_left_out_of_the_yaml() -> None:
    data = yaml.safe_load(Pipeline().add("s", Source()).to_yaml())
    assert list(data) == ["components", "connections"]


def test_handwritten_yaml_loads_and_runs(tmp_path: Path) -> None:
    pipe = Pipeline.from_yaml(write(tmp_path, GOOD))
    assert pipe.run().outputs == {"shout": "HI!", "size": 3}
    assert pipe.to_dict()["components"]["upper"]["init_parameters"]["suffix"] == "!"


def test_input_may_be_a_single_string(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        components:
          upper: {type: test_upper}
        inputs:
          text: upper.text
        """,
    )
    assert Pipeline.from_yaml(path).run({"text": "x"}).outputs == {"upper.text": "X"}


def test_to_yaml_handles_path_and_tuple_parameters(tmp_path: Path) -> None:
    from typing import Any

    from ragloom.component import Component, output_types

    class WithPath(Component):
        def __init__(self, path: Path = Path("data"), shape: tuple[int, int] = (1, 2)):
            self.path = path

        @output_types(text=str)
        def run(self) -> dict[str, Any]:
            return {"text": str(self.path)}

    text = Pipeline().add("p", WithPath()).to_yaml()
    assert yaml.safe_load(text)["components"]["p"]["init_parameters"] == {
        "path": "data",
        "shape": [1, 2],
    }


# -- component errors -------------------------------------------------------------------------


#: One mistake in GOOD: (the edited file, text on the line the problem names, what it says).
ONE_MISTAKE = [
    pytest.param(
        GOOD.replace('suffix: "!"', "mode: loud"),
        "mode: loud",
        ["'plain'", "'title'"],
        id="literal-parameter-lists-allowed-values",
    ),
    pytest.param(
        GOOD.replace(
            "    type: test_length\n", "    type: test_length\n    init_parameters: [1]\n"
        ),
        "init_parameters: [1]",
        [],
        id="init-parameters-not-a-mapping",
    ),
    pytest.param(
        GOOD.replace("    type: test_length\n", "    init_parameters: {}\n"),
        "  length:",
        ["needs a `type:`"],
        id="component-without-type",
    ),
    pytest.param(
        GOOD.replace("    type: test_length\n", "    type: test_length\n    params: {}\n"),
        "  length:",
        ["'params'"],
        id="unknown-key-in-a-component",
    ),
    pytest.param(
        GOOD + "inputs:\n  extra: [upper.txt]\n",
        "extra:",
        ["upper has no input 'txt'"],
        id="input-to-a-missing-socket",
    ),
    pytest.param(
        GOOD.replace("size: length.length", "size: length.size"),
        "size: length.size",
        ["outputs are: length (int)"],
        id="output-from-a-missing-socket",
    ),
    pytest.param(
        GOOD + "conections: []\n",
        "conections:",
        ["unknown key 'conections'", "connections"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        GOOD + "executor:\n  type: spark\n",
        "type: spark",
        ["executor: type must be one of local, ray, got 'spark'"],
        id="unknown-executor",
    ),
    pytest.param(GOOD + "index_dir: 5\n", "index_dir:", [], id="index-dir-not-a-string"),
]


@pytest.mark.parametrize(("text", "needle", "says"), ONE_MISTAKE)
def test_one_mistake_is_one_problem_on_its_line(
    tmp_path: Path, text: str, needle: str, says: list[str]
) -> None:
    path = write(tmp_path, text)
    problem = only_problem(path)
    assert problem.line == line_of(path, needle)
    for words in says:
        assert words in problem.message


def test_unknown_type_suggests_and_lists_types(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("type: test_upper", "type: test_uper"))
    problem = only_problem(path)
    assert problem.line == line_of(path, "type: test_uper")
    assert problem.component == "upper"
    assert "unknown component type 'test_uper'" in problem.message
    assert "Did you mean 'test_upper'?" in problem.message
    for name in TEST_TYPES:
        assert name in problem.message


def test_dotted_import_path_is_an_unknown_type_and_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "ragloom_canary_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    path = write(
        tmp_path,
        """\
        components:
          shell:
            type: os.system
            init_parameters: {command: "echo hi"}
          canary:
            type: ragloom_canary_mod.Evil
        """,
    )
    problems = problems_in(path)
    assert [p.line for p in problems] == [3, 6]
    assert all("unknown component type" in p.message for p in problems)
    assert calls == []
    assert not marker.exists()
    assert "ragloom_canary_mod" not in sys.modules


def test_misspelt_parameter_is_located_on_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('suffix: "!"', 'sufix: "!"'))
    problem = only_problem(path)
    assert problem.line == line_of(path, "sufix")
    assert (problem.component, problem.field) == ("upper", "sufix")
    assert "upper" in problem.message
    assert "did you mean 'suffix'?" in problem.message


def test_wrong_typed_parameter_is_located_on_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('suffix: "!"', 'suffix: "!"\n      repeat: lots'))
    problem = only_problem(path)
    assert problem.line == line_of(path, "repeat: lots")
    assert (problem.component, problem.field) == ("upper", "repeat")
    assert "'lots'" in problem.message


def test_invalid_component_name_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  length:", "  my.length:"))
    problems = problems_in(path)
    assert any(p.line == line_of(path, "my.length:") for p in problems)


def test_misspelt_and_wrong_typed_parameters_of_one_component_are_both_reported(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, GOOD.replace('suffix: "!"', 'sufix: "!"\n      repeat: lots'))
    assert {p.field for p in problems_in(path)} == {"sufix", "repeat"}


# -- graph errors -----------------------------------------------------------------------------


def test_connection_to_a_missing_socket_is_located_on_that_connection(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("receiver: length.text", "receiver: length.txt"))
    problem = problem_about(path, "no input 'txt'")
    assert problem.line == line_of(path, "receiver: length.txt")
    assert "length has no input 'txt'; inputs are: text (str)" in problem.message


def test_connection_from_a_missing_output_is_located_on_its_sender(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("sender: upper.text", "sender: upper.txt"))
    problem = problem_about(path, "no output 'txt'")
    assert problem.line == line_of(path, "sender: upper.txt")
    assert "outputs are: text (str)" in problem.message


def test_connection_to_a_missing_component(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("receiver: length.text", "receiver: lenght.text"))
    problems = problems_in(path)
    [missing] = [p for p in problems if "lenght" in p.message]
    assert missing.line == line_of(path, "receiver: lenght.text")
    assert "components are: source, upper, length" in missing.message


def test_malformed_sender_address_is_located_on_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("sender: upper.text", "sender: upper_text"))
    problem = problem_about(path, "upper_text")
    assert problem.line == line_of(path, "sender: upper_text")


def test_type_mismatch_is_located_on_the_connection(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        components:
          length: {type: test_length}
          upper: {type: test_upper}
        connections:
          - sender: length.length
            receiver: upper.text
        inputs:
          text: [length.text]
        """,
    )
    problem = problem_about(path, "type mismatch")
    assert problem.line == line_of(path, "receiver: upper.text")
    assert "type mismatch: length.length is int but upper.text expects str" in problem.message


def test_cycle_is_reported_on_a_component_in_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        components:
          first: {type: test_upper}
          second: {type: test_upper}
        connections:
          - {sender: first.text, receiver: second.text}
          - {sender: second.text, receiver: first.text}
        """,
    )
    problem = only_problem(path)
    assert "cycle" in problem.message
    assert "first" in problem.message
    assert "second" in problem.message
    assert problem.line in (line_of(path, "first:"), line_of(path, "second:"))


def test_missing_required_input_is_located_on_the_component(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  - sender: source.text\n    receiver: upper.text\n", ""))
    problem = only_problem(path)
    assert problem.line == line_of(path, "  upper:")
    assert (problem.component, problem.field) == ("upper", "text")
    assert "inputs:" in problem.message


def test_malformed_input_targets_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "components:\n  s: {type: test_scale}\ninputs:\n  value: 5\n")
    assert any(p.line == 4 for p in problems_in(path))


# -- file-level errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "nth"),
    [
        (GOOD + "outputs: {}\n", "outputs:", 2),
        (GOOD.replace("  length:\n", "  upper:\n"), "  upper:", 2),
        (GOOD.replace('suffix: "!"', 'suffix: "!"\n      suffix: "?"'), "suffix:", 2),
    ],
    ids=["top-level", "component-name", "parameter"],
)
def test_duplicate_key_is_located_on_the_repeat(
    tmp_path: Path, text: str, needle: str, nth: int
) -> None:
    path = write(tmp_path, text)
    problem = only_problem(path)
    assert problem.line == line_of(path, needle, nth)
    assert "duplicate key" in problem.message


def test_bad_indentation_is_a_parse_error_with_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  length:\n", "   length:\n"))
    problem = only_problem(path)
    assert problem.message.startswith("YAML parse error")
    assert problem.line == line_of(path, "   length:")


def test_unclosed_bracket_is_a_parse_error_with_a_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        components:
          upper:
            type: test_upper
            init_parameters: {suffix: "!"
          length:
            type: test_length
        """,
    )
    problem = only_problem(path)
    assert problem.message.startswith("YAML parse error")
    # PyYAML reports where it noticed (line 5); the bracket opened on line 4. Either is useful.
    assert problem.line in (4, 5)


def test_a_control_character_is_a_one_line_parse_error_with_a_line(tmp_path: Path) -> None:
    # Found by tests/unit/test_fuzz_inputs.py: PyYAML's reader raised before the parser ran,
    # so the CLI printed its two-line message as an unexpected error.
    path = write(tmp_path, GOOD.replace("value: hi", "value: h\x1fi"))
    problem = only_problem(path)
    assert problem.message.startswith("YAML parse error: character U+001F is not allowed")
    assert "\n" not in str(problem)
    assert problem.line == line_of(path, "value: h")


@pytest.mark.parametrize(
    "tag",
    [
        '!!python/object/apply:os.system ["echo hi"]',
        "!!python/name:os.system",
        "!!python/object/new:builtins.exec [\"open('/tmp/x', 'w')\"]",
    ],
)
def test_python_tags_are_refused_and_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    path = write(tmp_path, GOOD.replace('suffix: "!"', f"suffix: {tag}"))
    problem = only_problem(path)
    assert problem.message.startswith("YAML parse error")
    assert "python/" in problem.message
    assert problem.line == line_of(path, "suffix: !!python")
    assert calls == []


@pytest.mark.parametrize("text", ["- components\n- connections\n", "just a string\n", "42\n"])
def test_non_mapping_document(tmp_path: Path, text: str) -> None:
    problem = only_problem(write(tmp_path, text))
    assert "must be a mapping" in problem.message


def test_non_mapping_document_has_a_line(tmp_path: Path) -> None:
    assert only_problem(write(tmp_path, "# a comment\n- components\n")).line == 2


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    problem = only_problem(write(tmp_path, text))
    assert "components" in problem.message


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as info:
        Pipeline.from_yaml(tmp_path / "nope.yaml")
    assert info.value.problems[0].file == str(tmp_path / "nope.yaml")


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        components:
          upper:
            type: test_upper
            init_parameters:
              sufix: "!"
          length:
            type: test_lenght
          scale:
            type: test_scale
            init_parameters:
              factor: big
          join: {type: test_join}
        connections:
          - sender: upper.text
            receiver: join.part
        extra: 1
        """,
    )
    problems = problems_in(path)
    lines = {p.line for p in problems}
    expected = {
        line_of(path, "sufix:"),
        line_of(path, "type: test_lenght"),
        line_of(path, "factor: big"),
        line_of(path, "receiver: join.part"),
        line_of(path, "extra:"),
    }
    assert expected <= lines, [str(p) for p in problems]
    with pytest.raises(ConfigError) as info:
        Pipeline.from_yaml(path)
    assert len(str(info.value).splitlines()) == len(problems)


def test_from_yaml_text_locates_problems_without_a_file() -> None:
    with pytest.raises(PipelineValidationError) as info:
        Pipeline.from_yaml_text(GOOD.replace("type: test_upper", "type: nope"))
    [problem] = info.value.problems
    assert (problem.file, problem.line) == (None, 7)
    assert str(problem).startswith("line 7: ")


def test_every_error_is_a_config_error() -> None:
    assert issubclass(PipelineValidationError, ConfigError)


def test_a_failed_builtin_import_is_not_silently_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """One ImportError must not leave later lookups on a silently partial registry."""
    monkeypatch.setattr(registry, "_BUILTIN_MODULES", ("ragloom_no_such_module_xyz",))
    with pytest.raises(ImportError):
        registry.registered_types()
    with pytest.raises(ImportError):
        registry.registered_types()
