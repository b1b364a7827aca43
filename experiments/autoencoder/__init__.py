"""Deep dense autoencoder vs PCA at the same code size (Hinton & Salakhutdinov 2006)."""
