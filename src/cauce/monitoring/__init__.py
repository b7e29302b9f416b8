"""Operate: is production data still what the model learned from? (`cauce monitor`)"""
