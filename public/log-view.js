// Log panes: see runs pages.
