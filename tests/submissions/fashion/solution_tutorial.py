"""Fashion submission solution_tutorial: written as the tutorial writes it (a valid variant)."""

import numpy as np
import tensorflow as tf

class_names_list = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                    'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']


def class_names():
    return class_names_list


def normalise(images):
    return (images / 255.0).astype(np.float32)


def build_model(input_shape=(28, 28), num_classes=10):
    return tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=input_shape),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dense(num_classes)
    ])


def compile_model(model):
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])


def probabilities(model, images):
    probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
    return probability_model.predict(images, verbose=0)


def predict(model, images):
    return np.argmax(probabilities(model, images), axis=1)
