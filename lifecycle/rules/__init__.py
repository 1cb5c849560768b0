"""The pure rules: what is due when (due: review prompts, reminders, chasers, packs, digests),
the stages of a review, what is on a meeting's agenda, where a policy stands. They take
values and `now`, never the register."""
