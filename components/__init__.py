"""KFP components, one file per pipeline stage.

Each file holds the stage's plain function (takes ports, testable without KFP) and a few-line
``@dsl.component`` shell that imports inside its body (KFP ships only the function's source) and
calls it.
"""
