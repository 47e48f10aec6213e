"""WeChat's order shipping sync (发货信息录入): every WeChat-Pay-paid order told to WeChat as picked
up at its point once it arrives there, so that the payment WeChat holds frozen is settled."""
