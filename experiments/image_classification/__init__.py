"""Any CNN of the zoo on any image dataset; ResNet-20 on CIFAR-10 as a variant."""
