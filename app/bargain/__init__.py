"""Bargain (砍价): campaigns, a buyer's record that friends cut down to the floor price, and its one order."""
