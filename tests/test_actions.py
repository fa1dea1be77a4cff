from rlagent.rollout.actions import Action, ActionError, close_open_tags, parse_tag_action, parse_tool_call

TAGS = ("search", "answer")


def test_search_and_answer_tags():
    assert parse_tag_action("<think>hm</think> <search> capital of France </search>", TAGS) == Action(
        "search", {"text": "capital of France"}
    )
    assert parse_tag_action("<answer>Paris</answer>", TAGS) == Action("answer", {"text": "Paris"})


def test_first_action_wins_and_think_is_ignored():
    assert parse_tag_action("<answer>a</answer><search>q</search>", TAGS).name == "answer"
    assert parse_tag_action("<think><answer>x</answer></think><search>q</search>", TAGS).name == "search"


def test_malformed_outputs_explain_the_problem():
    cases = {
        "I think it is Paris": "no action",
        "<search>capital": "not closed",
        "<search>   </search>": "empty",
        "<answer>a</answer> <answer>b</answer>": "2 <answer> tags",
        "Paris</answer>": "without an opening",
    }
    for text, expected in cases.items():
        result = parse_tag_action(text, TAGS)
        assert isinstance(result, ActionError), text
        assert expected in result.message, (text, result.message)


def test_tool_calls():
    tools = {"search": ["query"], "answer": ["answer"]}
    ok = parse_tool_call('<tool_call>{"name": "search", "arguments": {"query": "x y"}}</tool_call>', tools)
    assert ok == Action("search", {"query": "x y"})
    as_string = parse_tool_call(
        '<tool_call>{"name": "answer", "arguments": "{\\"answer\\": \\"Z\\"}"}</tool_call>', tools
    )
    assert as_string == Action("answer", {"answer": "Z"})
    for text, expected in {
        "no call": "no tool call",
        '<tool_call>{"name": "search"': "not closed",
        "<tool_call>{oops}</tool_call>": "not valid JSON",
        '<tool_call>{"name": "delete", "arguments": {}}</tool_call>': "Unknown tool",
        '<tool_call>{"name": "search", "arguments": {"query": ""}}</tool_call>': "non-empty 'query'",
        '<tool_call>{"name": "answer", "arguments": {"answer": "a"}}</tool_call>' * 2: "2 tool calls",
    }.items():
        result = parse_tool_call(text, tools)
        assert isinstance(result, ActionError) and expected in result.message, (text, result)


def test_close_open_tags_restores_cut_stop_string():
    assert close_open_tags("<search> q ", ["</search>", "</answer>"]) == "<search> q </search>"
    assert close_open_tags("<search> q </search>", ["</search>"]) == "<search> q </search>"
    assert close_open_tags("plain", ["</search>"]) == "plain"
