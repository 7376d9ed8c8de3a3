"""How long Manual Judgments wait: percentiles per application, approver and week, and a chart of them."""
