"""What a user looks at: :mod:`.html` (the self-contained HTML report of an evaluated run),
:mod:`.plots` (hypnograms, confusion matrices, training curves as PNG) and :mod:`.images`
(PNG encoding and contact sheets of rendered images)."""
