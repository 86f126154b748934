"""The GitOps tab: a local web page over the API (plain HTML/CSS/JS, no build step, nothing fetched at run time)."""
