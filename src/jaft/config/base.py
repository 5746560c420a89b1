from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors (the loader turns them into a 'did you mean' message)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
