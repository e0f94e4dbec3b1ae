"""The pure workflow core of loanflow: specs, engine, history and the service layer."""
