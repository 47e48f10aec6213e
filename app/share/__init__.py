"""Share links (分享): tokens for a product, flash sale, group or bargain record, their visits
(binding newcomers to the sharer's leader), the sharer's rewards, and posters."""
