"""Coupons (优惠券): templates an operator defines, coupons buyers claim or leaders grant to their fans within a quota, and their use on plain orders."""
