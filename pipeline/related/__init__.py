""" "More like this": the related-article index, its queries, stored rails,
the merge of rails and the optional semantic scorer."""
