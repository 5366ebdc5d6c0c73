"""Trusted reference answers of the graded items (instructor-only, never shipped).

``a1_a3`` holds plain-NumPy answers for assignments a1-a3, ``a4_a5`` NumPy/Flax
answers for a4-a5. ``autograder.items`` attaches them (and the models of known
mistakes) to the student-side items of ``medjax.selfcheck``.
"""
