"""Sandboxed execution of model-written Python: one persistent, isolated process per episode."""

from rlagent.sandbox.config import SandboxConfig
from rlagent.sandbox.process import ApiCallError, CodeSandbox, ExecResult, Handler, SandboxError

__all__ = ["ApiCallError", "CodeSandbox", "ExecResult", "Handler", "SandboxConfig", "SandboxError"]
