"""Custom Rasa 3.6 components for the PANDAWA NLU (loaded by module path, Rasa venv only).

Why: citizens write long, story-first messages where the request comes last; raw token counts of
the whole story swamp the request. These components add length-normalised features and features of
the request clause. Referenced from pipelines as e.g. `nlu.components.request.RequestFeaturizer`
(run rasa from the repository root so that `nlu` is importable).
"""
