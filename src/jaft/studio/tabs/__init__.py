"""One module per tab; each ``build(studio, lang, shared)`` lays out its components inside the open
``gr.Blocks`` and wires their events. ``shared`` carries the few components tabs hand to each other
(the model chosen on the Model tab, the data prepared on the Data tab, the run trained on Train)."""
