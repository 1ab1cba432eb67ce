""" "More like this": the related-article index, its queries, stored rails and the reverse
update, the merge of rails, impact's preview and the optional semantic scorer
(facade.py lists the modules)."""
