"""The Ollama Modelfile of a model's tools alias (models.toml `tools_alias`).

Some models (deepseek-r1 among them) ship a chat template without tool calling, so Ollama refuses requests
that carry tools. The alias is the same weights with a template that lists the tools in the system turn and
reads a `<tool_call>{"name": …, "arguments": …}</tool_call>` answer back as a call. The model server creates
it at start (`ollama create ALIAS -f Modelfile`), from a ConfigMap.
"""

from __future__ import annotations

from sparkctl.catalog import Model

TOOLS_TEMPLATE = """\
{{- if or .System .Tools }}<|system|>
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}
You can call these tools. To call one, answer with only
<tool_call>{"name": "<tool name>", "arguments": {<arguments as JSON>}}</tool_call>
<tools>
{{- range .Tools }}
{{ json .Function }}
{{- end }}
</tools>
{{- end }}
{{ end }}
{{- range .Messages }}
{{- if eq .Role "user" }}<|user|>
{{ .Content }}
{{ else if eq .Role "assistant" }}<|assistant|>
{{- if .ToolCalls }}
{{- range .ToolCalls }}
<tool_call>{"name": "{{ .Function.Name }}", "arguments": {{ json .Function.Arguments }}}</tool_call>
{{- end }}
{{- else }}
{{ .Content }}
{{- end }}
{{ else if eq .Role "tool" }}<|tool|>
{{ .Content }}
{{ end }}
{{- end }}<|assistant|>
"""


def tools_modelfile(model: Model) -> str:
    """FROM the model, its context length, and the tool-calling template above."""
    return f'FROM {model.pull_ref}\nPARAMETER num_ctx {model.context}\nTEMPLATE """{TOOLS_TEMPLATE}"""\n'
