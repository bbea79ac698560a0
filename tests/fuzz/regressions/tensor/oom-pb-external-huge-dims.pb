ииииBej
locationdata.binp