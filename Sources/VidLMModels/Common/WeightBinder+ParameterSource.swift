import VidLMTensor

extension WeightBinder: ParameterSource {}
