"""The workbench's screens: pick, setup, dashboard, help (report and tutorials beside them)."""
