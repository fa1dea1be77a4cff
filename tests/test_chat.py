"""Chat-template continuations: what the environment appends after a model turn."""

import pytest

from rlagent.rollout.chat import ChatFormat
from rlagent.tasks.search.env import TOOL_SCHEMAS

pytestmark = pytest.mark.slow  # needs the prepared SmolLM2 tokenizer

# A ChatML template with tools in the system message and tool results as <tool_response> user turns
# (the shape of Qwen2.5's template), written for this test.
TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nYou may call these tools:"
    "{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n"
    'Reply with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>\n{% endif %}'
    "{% for message in messages %}"
    "{% if message.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_continuation_after_eos_and_after_a_stop_string(smol_tokenizer):
    chat = ChatFormat(smol_tokenizer)
    eos = smol_tokenizer.eos_token_id
    obs = [{"role": "user", "content": "<information>x</information>"}]
    assert chat.continuation_text(obs, [100, eos]) == (
        "\n<|im_start|>user\n<information>x</information><|im_end|>\n<|im_start|>assistant\n"
    )
    # stopped at </search>: the template's turn ending is written for the model
    assert chat.continuation_text(obs, [100, 200]).startswith("<|im_end|>\n<|im_start|>user\n")
    ids = chat.continuation_ids(obs, [100, eos])
    assert smol_tokenizer.decode(ids) == chat.continuation_text(obs, [100, eos])


def test_tools_template_renders_schemas_and_tool_results(smol_tokenizer):
    smol_tokenizer = smol_tokenizer.__class__.from_pretrained(smol_tokenizer.name_or_path)
    smol_tokenizer.chat_template = TOOLS_TEMPLATE
    chat = ChatFormat(smol_tokenizer, tools=TOOL_SCHEMAS)
    prompt = smol_tokenizer.decode(chat.prompt_ids([{"role": "user", "content": "Question: who?"}]))
    assert '"name": "search"' in prompt and '"name": "answer"' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    text = chat.continuation_text([{"role": "tool", "content": "Doc 1: ..."}], [100, smol_tokenizer.eos_token_id])
    assert (
        text == "\n<|im_start|>user\n<tool_response>\nDoc 1: ...\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )


def test_templates_that_rewrite_history_are_refused(smol_tokenizer):
    smol_tokenizer = smol_tokenizer.__class__.from_pretrained(smol_tokenizer.name_or_path)
    smol_tokenizer.chat_template = (
        "turns={{ messages | length }}{% for m in messages %}|{{ m.role }}:{{ m.content }}{% endfor %}"
        "{% if add_generation_prompt %}|assistant:{% endif %}"
    )
    chat = ChatFormat(smol_tokenizer)
    with pytest.raises(ValueError, match="rewrites earlier turns"):
        chat.continuation_text([{"role": "user", "content": "obs"}], [5])
