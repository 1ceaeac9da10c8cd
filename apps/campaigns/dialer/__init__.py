"""The outbound dialer: the hopper (which due leads are dialled next, claimed so that two ticks
never dial one lead), pacing (how many calls each dial mode places) and the tick that beat runs
for every active voice campaign."""
