"""LeNet-5 (LeCun et al. 1998) on handwritten digits brought to 32x32."""
