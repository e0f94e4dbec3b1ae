"""loanflow's benchmarks: each compares loanflow with a floor or a peer measured in the same run."""
