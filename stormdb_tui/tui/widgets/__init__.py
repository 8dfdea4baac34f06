"""Widgets shared by the screens: the generated options form, dashboard panes, dialogs."""
